"""Bad: a syntax error."""
PARAMETERS = []

def on_order(self, order)
    pass
