"""A family's AVG rights at intake: the export, erasure with four eyes and legal holds, the
tombstone that remains, and the confirmations of the other services."""
