"""The two fixes of docs/tutorial/fix-and-replay.md, each replacing its part of till.py."""

# --8<-- [start:prices]
PRICES = {"KETTLE-1": 25.00, "FILTER-S": 3.95, "DESCALER": 6.50}  # EUR, by the SKU
# --8<-- [end:prices]


# --8<-- [start:handler]
def record_sale(event, sku, qty):
    total = PRICES[sku.upper()] * qty  # the scanner sends "kettle-1" too
    again = f" (replay of {event.replay_of[-12:]})" if event.replay_of else ""
    print(f"sold {qty} x {sku}: {total:.2f} EUR{again}")
    # --8<-- [end:handler]
