"""The functional update machinery: pure update steps, Adam, population folding, compilation."""
