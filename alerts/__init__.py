"""Alert channels: email, SMS, WeCom/DingTalk robots (issue 6). Reads events and the store only."""
