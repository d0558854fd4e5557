import { describe, expect, it } from 'vitest';
import { TopicLog } from '../../src/broker/topic-log.js';

describe('TopicLog', () => {
  it('maps offsets to entries and positions, including runs that start inside an entry', () => {
    const t = new TopicLog(1, 't', 100);
    expect(t.append(10, 3, 1000)).toBe(0);
    expect(t.append(20, 2, 2000, 4)).toBe(3); // messages 4 and 5 of entry 20 become visible later
    expect(t.append(11, 1, 2000)).toBe(5);
    expect(t.locate(0)).toEqual({ logIndex: 10, position: 0 });
    expect(t.locate(2)).toEqual({ logIndex: 10, position: 2 });
    expect(t.locate(3)).toEqual({ logIndex: 20, position: 4 });
    expect(t.locate(4)).toEqual({ logIndex: 20, position: 5 });
    expect(t.locate(5)).toEqual({ logIndex: 11, position: 0 });
    expect(t.locate(6)).toBeUndefined();
    expect(t.locate(-1)).toBeUndefined();
    expect(t.nextOffset).toBe(6);
  });

  it('keeps consecutive messages of one entry made visible at one time in one run', () => {
    const t = new TopicLog(1, 't', 100);
    t.append(7, 1, 500, 0);
    t.append(7, 1, 500, 1);
    t.append(7, 1, 600, 2);
    expect(t.locate(1)).toEqual({ logIndex: 7, position: 1 });
    expect(t.locate(2)).toEqual({ logIndex: 7, position: 2 });
  });

  it('finds the first offset made visible at or after a time', () => {
    const t = new TopicLog(1, 't', 100);
    expect(t.offsetAtTime(0)).toBe(0);
    t.append(1, 2, 1000);
    t.append(2, 3, 2000);
    t.append(3, 1, 3000);
    expect(t.offsetAtTime(0)).toBe(0);
    expect(t.offsetAtTime(1000)).toBe(0);
    expect(t.offsetAtTime(1001)).toBe(2);
    expect(t.offsetAtTime(2000)).toBe(2);
    expect(t.offsetAtTime(2500)).toBe(5);
    expect(t.offsetAtTime(3001)).toBe(6);
  });

  it('a trim drops the leading runs held below the point, stops at the first held at or after it, and answers as before from there', () => {
    const t = new TopicLog(1, 't', 100);
    t.append(10, 2, 0); // offsets 0, 1
    t.append(12, 2, 0); // 2, 3
    t.append(5, 1, 0); // 4: an older entry (a delayed batch)
    t.append(13, 1, 0); // 5
    t.append(14, 1, 0); // 6
    const before = [12, 13, 14, 15].map((i) => t.firstOffsetAtOrAfter(i));
    expect(t.trimBelow(12)).toBe(1);
    expect(t.startOffset).toBe(2);
    expect(t.locate(1)).toBeUndefined();
    expect(t.locate(4)).toEqual({ logIndex: 5, position: 0 });
    expect([12, 13, 14, 15].map((i) => t.firstOffsetAtOrAfter(i))).toEqual(before);
    expect(t.firstOffsetAtOrAfter(5)).toBe(2);
    expect(t.lowestLogIndexFrom(0)).toBe(5);
    expect(t.lowestLogIndexFrom(5)).toBe(13);
    expect(t.trimBelow(12)).toBe(0);
    // Everything below 15: the run at 12 now goes, then 5, 13 and 14; offsets go on from 7.
    expect(t.trimBelow(15)).toBe(4);
    expect(t.startOffset).toBe(7);
    expect(t.firstOffsetAtOrAfter(1)).toBe(7);
    expect(t.lowestLogIndexFrom(0)).toBe(Infinity);
    expect(t.append(20, 1, 0)).toBe(7);
    expect(t.locate(7)).toEqual({ logIndex: 20, position: 0 });
    expect(t.toSnapshot()).toMatchObject({ startOffset: 7, nextOffset: 8 });
  });
});
