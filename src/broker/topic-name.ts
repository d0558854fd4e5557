/** Topic names as Kafka allows them: 1-249 of [A-Za-z0-9._-], and not "." or "..". */
const NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** Returns why `name` is not a valid topic name, or null if it is. */
export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return 'a topic name cannot be empty';
  if (name.length > 249) return `a topic name has at most 249 characters, not ${name.length}`;
  if (!NAME.test(name)) return `topic name "${name}" may contain only letters, digits, '.', '_' and '-'`;
  if (name === '.' || name === '..') return `"${name}" is not a valid topic name`;
  return null;
}
