export { hashPassword, verifyPassword, checkParameters, SCRYPT_DEFAULTS, type PasswordHash, type ScryptParameters } from './password-hash.js';
export { checkUserName, groupOrOtherAccess, parseUsers, readUsersFile, readUsersFileOrEmpty, serializeUsers, UsersFileError, UsersTable, writeUsersFile } from './users-file.js';
export { PasswordVerifier, PASSWORD_VERIFIER_DEFAULTS, type PasswordCheck, type PasswordVerifierOptions } from './password-verifier.js';
