"""The Telegram face of papersbot: ``app`` assembles and runs it, ``handlers`` answer updates, ``views`` and
``render`` turn results into safe Telegram HTML, ``access`` decides who may ask and how often."""
