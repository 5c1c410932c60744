"""The registers service: canonical, append-only registers, OpenRegister v1 compatible,
Merkle-verifiable (RFC 9162) with signed checkpoints (docs/registers.md)."""
