"""TrainConfig validation, --set parsing and the recipes."""
import pytest

import cifarzoo
from cifarzoo.data import AugConfig
from cifarzoo.train.config import TrainConfig, apply_overrides, describe_keys
from cifarzoo.train.recipes import RECIPES, get_recipe, list_recipes


def test_set_parses_types():
    cfg = apply_overrides(TrainConfig(), [
        "epochs=7", "lr=0.05", "nesterov=true", "model=resnet56", "milestones=10,20", "aug.cutout=16",
        "aug.auto_augment=cifar10", "model_kwargs.drop_path_rate=0.1", "kd_teacher=none", "betas=[0.8,0.9]",
        "model_kwargs={\"zero_init_residual\": true}"])
    assert cfg.epochs == 7 and isinstance(cfg.epochs, int)
    assert cfg.lr == 0.05 and cfg.nesterov is True and cfg.model == "resnet56"
    assert cfg.milestones == [10, 20]
    assert cfg.aug.cutout == 16 and cfg.aug.auto_augment == "cifar10"
    assert cfg.model_kwargs == {"zero_init_residual": True}  # a whole dict replaces the knobs
    assert cfg.kd_teacher is None and cfg.betas == (0.8, 0.9)


@pytest.mark.parametrize("item, match", [
    ("epoch=3", r"unknown key 'epoch'.*Did you mean epochs"),
    ("aug.cutuot=3", r"unknown key 'aug.cutuot'.*aug.cutout"),
    ("cutout=16", r"unknown key 'cutout'.*aug.cutout"),
    ("epochs=x", "expected an integer"),
    ("lr=fast", "expected a number"),
    ("nesterov=maybe", "expected a boolean"),
    ("milestones={", "expected JSON"),
    ("epochs", "key=value"),
    ("optim.lr=1", "only aug"),
])
def test_set_errors_name_the_key(item, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides(TrainConfig(), [item])


@pytest.mark.parametrize("field, value, match", [
    ("optimizer", "lamb", "TrainConfig.optimizer='lamb'"),
    ("schedule", "poly", "TrainConfig.schedule"),
    ("epochs", 0, "epochs"),
    ("ema_decay", 1.0, "ema_decay"),
    ("final_weights", "ema", "ema_decay > 0"),
    ("amp", "fp8", "amp"),
    ("milestones", [5, 2], "increasing"),
])
def test_validate_names_the_field(field, value, match):
    cfg = TrainConfig()
    setattr(cfg, field, value)
    with pytest.raises(ValueError, match=match):
        cfg.validate()


def test_validate_cross_field_rules():
    with pytest.raises(ValueError, match="holdout"):
        TrainConfig(schedule="plateau", plateau_monitor="val_loss").validate()
    with pytest.raises(ValueError, match="bf16"):
        TrainConfig(optimizer="sam", amp="fp16").validate()
    TrainConfig(schedule="plateau", plateau_monitor="val_loss", holdout=5000).validate()


def test_dict_round_trip():
    cfg = apply_overrides(TrainConfig(), ["aug.mixup_alpha=1.0", "betas=0.8,0.9", "model_kwargs.drop_path_rate=0.1"])
    back = TrainConfig.from_dict(cfg.to_dict())
    assert back == cfg and isinstance(back.aug, AugConfig)
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({"bogus": 1})


def test_describe_keys_lists_nested_keys():
    keys = describe_keys()
    assert any(k.startswith("aug.cutout = ") for k in keys) and any(k.startswith("lr = ") for k in keys)


def test_every_recipe_is_valid_and_documented():
    names = list_recipes()
    assert len(names) >= 30
    registered = set(cifarzoo.list_models())
    for name in names:
        cfg = get_recipe(name)
        cfg.validate()
        assert cfg.recipe == name and cfg.out_dir == f"runs/{name}"
        assert len(RECIPES[name].description) > 30, name
        assert cfg.model in registered, f"recipe {name}: model {cfg.model!r} is not registered"
        knobs = cifarzoo.model_info(cfg.model).knobs
        assert set(cfg.model_kwargs) <= set(knobs), f"{name}: {cfg.model_kwargs} not knobs of {cfg.model}"
    required = ["resnet50_e5_cifar100", "resnet50_t_cifar100", "resnet18_cifar10_cutout", "wrn28_10_cifar10_ricap",
                "shake_resnet26_2x64d_cifar10", "pyramidnet272_cifar10_divide_cotrain", "baseline200_cifar10",
                "resnet18_cifar10_fast", "resnet50_e5_cifar100_fast"]
    required += [f"resnet{d}_{ds}" for d in (20, 32, 44, 56, 110) for ds in ("cifar10", "cifar100")]
    required += [f"{m}_{ds}_fast" for m in ("resnet20", "resnet56", "mobilenetv2_x0_5", "shufflenetv2_x1_0")
                 for ds in ("cifar10", "cifar100")]
    assert not sorted(set(required) - set(names))


def test_recipes_match_their_documents():
    c = get_recipe("resnet50_e5_cifar100")  # doc 000's best script
    assert (c.model, c.dataset, c.lr, c.batch_size, c.epochs, c.schedule, c.min_lr, c.warmup_epochs,
            c.weight_decay, c.nesterov) == ("resnet50_e5", "cifar100", 0.1, 128, 300, "cosine", 1e-6, 20, 5e-4, False)
    assert (c.aug.auto_augment, c.aug.random_erase, c.aug.mixup_alpha, c.aug.cutmix_alpha) == ("cifar10", 0.25, 1, 1)
    assert c.model_kwargs == {"drop_path_rate": 0.1}
    t = get_recipe("resnet50_t_cifar100")
    assert (t.schedule, t.milestones, t.gamma, t.warmup_epochs, t.epochs) == ("multistep", [60, 120, 160], 0.2, 5, 200)
    r = get_recipe("resnet18_cifar10_cutout")  # doc 003
    assert (r.schedule, r.plateau_factor, r.plateau_patience, r.epochs, r.aug.cutout) == ("plateau", 0.5, 10, 250, 16)
    w = get_recipe("wrn28_10_cifar10_ricap")
    assert w.nesterov and w.aug.ricap_beta == 0.3 and w.epochs == 200
    p = get_recipe("pyramidnet272_cifar10_divide_cotrain")
    assert p.no_wd_norm_bias and p.init == "kaiming" and p.warmup_epochs == 20 and p.nesterov
    b = get_recipe("baseline200_cifar10")
    assert (b.lr, b.schedule, b.epochs, b.weight_decay) == (0.01, "cosine", 200, 5e-4)
    h = get_recipe("resnet110_cifar10")  # He et al.: 64k iterations at 391 per epoch
    assert abs(h.epochs * 391 - 64000) < 391 and [m * 391 for m in h.milestones] == pytest.approx([32000, 48000],
                                                                                                rel=0.01)
    assert h.weight_decay == 1e-4 and h.warmup_iters == 400 and h.warmup_method == "constant"
    f = get_recipe("resnet18_cifar10_fast")
    assert f.amp == "bf16" and f.channels_last and f.ema_decay > 0 and f.label_smoothing == 0.1 and f.aug.cutout == 16


def test_unknown_recipe_suggests():
    with pytest.raises(KeyError, match="resnet18_cifar10_fast"):
        get_recipe("resnet18_cifar10_fats")
