"""Pure order rules over plain values (no storage, no clock): routing lines to fulfilment nodes."""
