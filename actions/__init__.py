"""Action server of the hotel guest assistant (Rasa SDK)."""
