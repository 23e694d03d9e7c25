"""One table of encoder defaults (`presets.ENCODER_DEFAULTS`) for configs, builder and data schema."""

import inspect

import mmfusion_tf as mmf
from mmfusion_tf.backbones import AudioEncoder, ImageEncoder
from mmfusion_tf.data.schema import fields_for
from mmfusion_tf.models.builder import build_encoder
from mmfusion_tf.presets import ENCODER_DEFAULTS


def _defaults(cls, *names):
    parameters = inspect.signature(cls.__init__).parameters
    return {name: parameters[name].default for name in names}


def test_encoder_constructors_default_to_the_table():
    assert _defaults(ImageEncoder, "image_size", "value_range") == ENCODER_DEFAULTS["image"]
    assert _defaults(AudioEncoder, "sample_rate", "batched") == ENCODER_DEFAULTS["audio"]


def test_resolved_starts_from_the_defaults_then_preset_then_explicit_fields():
    image = mmf.ImageModality(handle="/models/image")
    assert image.resolved("image")["image_size"] == (224, 224)
    assert image.resolved("image")["value_range"] == (0.0, 1.0)
    audio = mmf.AudioModality(handle="/models/audio")
    assert audio.resolved("audio")["sample_rate"] == 16000 and audio.resolved("audio")["batched"] is True
    yamnet = mmf.AudioModality(preset="yamnet")
    assert yamnet.resolved("audio")["batched"] is False  # the preset beats the default
    yamnet.batched = True
    assert yamnet.resolved("audio")["batched"] is True  # an explicit field beats the preset
    efficientnet = mmf.ImageModality(preset="efficientnetv2_s", value_range=[-1.0, 1.0])
    assert efficientnet.resolved("image")["image_size"] == (384, 384)
    assert efficientnet.resolved("image")["value_range"] == [-1.0, 1.0]


def test_resolved_does_not_change_the_config():
    config = mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(handle="/models/image"), mmf.AudioModality(handle="/models/audio", num_samples=800),
        ],
        head=mmf.HeadConfig(task="binary"),
    )
    before = config.to_yaml()
    resolved = config.modalities[0].resolved("image")
    resolved["image_size"] = [1, 1]
    config.modalities[1].resolved("audio")
    assert config.modalities[0].image_size is None and config.modalities[1].sample_rate is None
    assert config.to_yaml() == before
    assert mmf.ModelConfig.from_yaml(before) == config
    assert config.modalities[0].resolved("image")["image_size"] == (224, 224)  # the table was not mutated


def test_builder_and_schema_read_the_resolved_defaults(hub_dir):
    image = mmf.ImageModality(handle=hub_dir["image"], input_shape=[None, None, 3])
    audio = mmf.AudioModality(handle=hub_dir["audio"])
    encoder = build_encoder(image)
    assert encoder.image_size == (224, 224) and encoder.value_range == (0.0, 1.0)
    audio_encoder = build_encoder(audio)
    assert audio_encoder.sample_rate == 16000 and audio_encoder.batched is True
    config = mmf.ModelConfig(modalities=[image, audio], head=mmf.HeadConfig(task="binary"))
    fields = {f.name: f for f in fields_for(config, max_audio_seconds=0.5)}
    assert fields["image"].image_size == (224, 224)
    assert fields["audio"].sample_rate == 16000 and fields["audio"].num_samples == 8000
