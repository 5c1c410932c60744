"""The registers service's use cases (no FastAPI, no gRPC): definitions and system
registers (:mod:`.schema`), appends (:mod:`.appending`), reads and downloads
(:mod:`.reading`), proofs and checkpoints (:mod:`.proofs`), seeding from pycountry
(:mod:`.seeding`) and verification of the stored data (:mod:`.verification`)."""
