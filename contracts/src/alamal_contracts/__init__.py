"""Al Amal shared event contracts: data only."""
