"""Two-way order status: the Intacct document number and paid state back onto channel orders.

report = writeback_connection(connection, intacct, client_for(connection), ledger, state,
                              settings, deadline=deadline)
"""

from intacct_sync.writeback.run import (
    WritebackReport,
    document_number,
    writeback_all,
    writeback_connection,
    writeback_options,
)

__all__ = ["WritebackReport", "document_number", "writeback_all", "writeback_connection", "writeback_options"]
