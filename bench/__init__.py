"""`make bench`: performance figures for the notes. Measures; never asserts."""
