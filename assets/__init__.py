"""Software-defined assets, one module per step of the flow."""
