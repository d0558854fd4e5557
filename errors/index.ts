export { ErrorCode, isErrorCode } from './error-codes.js';
