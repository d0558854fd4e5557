// The product's one set of error codes, defined in storage (the lowest layer that raises errors).
export { ErrorCode, isErrorCode } from '../storage/error-codes.js';
