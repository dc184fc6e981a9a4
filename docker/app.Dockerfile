# One image for both Rasa (`rasa run`) and the action server
# (`python -m actions.server`): the project plus every pin of requirements.lock.
# Built by docker-compose.yml (context: the repository root). The trained model
# is not in the image: compose mounts ./models (make train) read-only.
FROM python:3.10-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    RASA_TELEMETRY_ENABLED=false

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.lock ./
RUN python -m pip install "pip==24.0" \
 && python -m pip install -r requirements.lock

COPY core/ core/
COPY actions/ actions/
COPY components/ components/
COPY connectors/ connectors/
COPY dlq/ dlq/
COPY journey/ journey/
COPY staff/ staff/
COPY static/ static/
COPY config.yml domain.yml credentials.yml endpoints.yml hotel.yml ./

RUN useradd --create-home --uid 10001 assistant \
 && mkdir -p var models \
 && chown -R assistant:assistant var models
USER assistant

EXPOSE 5005 5055
CMD ["python", "-m", "actions.server", "--port", "5055"]
