"""What a firm loads into Rapport from its own systems: ethical walls (walls), matters (matters)."""
