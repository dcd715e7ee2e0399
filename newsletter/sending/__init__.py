"""Sending mail: campaigns, dispatch, the delivery worker and its store, compose, DKIM, transports."""
