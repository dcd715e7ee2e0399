"""Privacy: consent records, data-subject requests (and next: policy, export, erasure, audit)."""
