"""Staff console of the hotel assistant: conversations from Rasa's tracker
store, open handoffs (resume the bot), dead letters (retry), as a CLI
(``python -m staff``) and a small authenticated web page
(``python -m staff.web``). See docs/staff.md."""
