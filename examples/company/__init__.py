"""The company of the design: small apps, each with its own API and its own process.

- ``sales``: takes orders (``sales.place_order``) and fires ``sales.order_placed``;
- ``warranty``: registers each sold serial on ``sales.order_placed`` and answers
  ``warranty.is_covered``;
- ``parts``: reserves stock on ``sales.order_placed`` and answers ``company.parts.in_stock``;
- ``support``: answers a customer (``support.ask``) by calling warranty and parts;
- ``report``: the nightly report, on a schedule;
- ``mailer``: the background email queue (``mail.email_queued``), whose relay fails now
  and then.

Each is a bus module: ``lightbus run --bus examples.company.sales`` runs one.
``python -m examples.company`` runs them all on an embedded Redis, with a shop front that
places orders and a customer who asks support; see README.md in this folder.
"""
