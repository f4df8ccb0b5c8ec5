"""Intake: channel deliveries and polled order states onto the queues, once each."""
