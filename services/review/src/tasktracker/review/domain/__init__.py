"""Review's pure rules: decisions and tallies, merges, task status, merge suggestions."""
