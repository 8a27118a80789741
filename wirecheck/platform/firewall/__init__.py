"""Local firewall rules: `model` (rules as data), `parsers` (iptables, nft, firewalld
text into rules), `assess` (pure decisions on rules) and `reader` (the machine's rules, in
one snapshot)."""
