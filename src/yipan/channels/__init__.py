"""Sales channels: the registry of where orders come from (stores' POS, own shop, mini-program,
marketplaces, guides' tablets, distributors); connectors come later."""
