"""The study definition: search space, policies, objective and the whole definition, parsed once."""
