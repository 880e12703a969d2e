"""Domain events: the transactional outbox and its delivery to handlers and, later, external buses."""
