"""Notifications' pure domain: referral projection, consent gate, subscriptions and retries."""
