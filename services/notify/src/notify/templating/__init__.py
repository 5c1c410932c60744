"""Notify's template language, as GOV.UK Notify (notifications-utils) defines it.

- :mod:`.placeholders`: ``((name))`` placeholders, ``((flag??text))`` conditionals,
  list values, and which personalisation is missing.
- :mod:`.sms`: text messages sanitised to GSM 03.38 (plus Welsh characters), their
  fragments (160/153 and 70/67) and the 918-character limit.
- :mod:`.email`: Notify's email formatting subset, rendered to HTML.
- :mod:`.letter`: letters rendered to PDF.
- :mod:`.render`: one template and its personalisation, rendered for a channel.

Nothing here touches a database or the network.
"""
