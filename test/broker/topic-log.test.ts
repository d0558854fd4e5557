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
});
