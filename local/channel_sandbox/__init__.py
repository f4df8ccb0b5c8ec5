"""Local Shopify / WooCommerce / BigCommerce API sandbox (dev/test tool; never deployed).

An independent protocol peer of the product's channel clients: it does not import the product.
"""

from .server import ChannelFault, ChannelSandbox, RequestRecord
from .webhooks import Delivery

__all__ = ["ChannelFault", "ChannelSandbox", "Delivery", "RequestRecord"]
