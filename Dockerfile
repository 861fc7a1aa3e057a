# syntax=docker/dockerfile:1
# CPU image (default):   docker build -t pytorch-stn .
# CUDA image:            docker build --build-arg TORCH_VARIANT=cu126 -t pytorch-stn:cuda .
# Run (the seed's usage): docker run -v "$(pwd):/app" pytorch-stn --epochs=10
#   imgs/stn.png, runs/ and wandb/ land in the mounted folder. W&B key only at run time:
#   docker run -e WANDB_API_KEY -v "$(pwd):/app" pytorch-stn --epochs=10
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu
ARG UID=1000
ARG GID=1000

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    WANDB_CONFIG_DIR=/tmp/wandb-config \
    WANDB_CACHE_DIR=/tmp/wandb-cache

# requirements in their own layer: code edits do not reinstall torch
COPY requirements.txt /opt/stn/requirements.txt
RUN pip install --no-cache-dir --extra-index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
        -r /opt/stn/requirements.txt

COPY common /opt/stn/common
COPY variants /opt/stn/variants
COPY sweeps /opt/stn/sweeps
COPY train.py /opt/stn/

# a non-root user whose uid matches the usual host user, so it can write the mounted folder
RUN groupadd --gid "${GID}" stn && useradd --uid "${UID}" --gid "${GID}" --create-home stn
USER ${UID}:${GID}
WORKDIR /app
ENTRYPOINT ["python", "/opt/stn/train.py"]
CMD ["--epochs=10"]
