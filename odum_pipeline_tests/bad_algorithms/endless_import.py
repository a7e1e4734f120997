"""Bad: never finishes importing."""
PARAMETERS = []

while True:
    pass
