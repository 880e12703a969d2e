"""Orders from every channel: capture, routing to fulfilment nodes, and their lifecycle."""
