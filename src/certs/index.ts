export {
  createAuthority,
  importAuthority,
  issue,
  issueDevelopmentCertificates,
  writeDevelopmentCertificates,
  type Authority,
  type DevelopmentCertificates,
  type DevelopmentCertificatesOptions,
  type IssuedCertificate,
} from './dev-certificates.js';
