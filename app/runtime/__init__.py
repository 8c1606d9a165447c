"""Services shared by the GUI and the CLI: hub, hardware, fit, chat, evaluation, settings. No Qt here."""
