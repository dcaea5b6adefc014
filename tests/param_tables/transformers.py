# Transformer families (vit, mobilevit, coatnet, cvt, swin) at num_classes=10, 32x32 input.
# Document 004 prints no counts for its ViT rows (NaN), so every count here is this project's
# 32x32 adaptation of the paper layout; tests/test_transformers.py ties each family back to the
# paper's (ImageNet, 1000-class) count.
VIT = "Dosovitskiy et al. 2021 layout; this project's CIFAR config (patch 4, dim 512, MLP ratio 2)"
VIT_004 = VIT + "; [heads, layers] of document 004's CIFAR-10 rows"
MOBILEVIT = ("Mehta & Rastegari 2022 layout (paper 1.3M/2.3M/5.6M at 1000 classes, reproduced as "
             "1.27M/2.32M/5.58M); 10-class head; stride 1 stem/layer2 for 32x32 adds no parameters")
COATNET = ("Dai et al. 2021 Table 3 layout (paper 25M/42M/75M at 224 and 1000 classes); 10-class head, "
           "relative-bias tables for 8x8/4x4 transformer stages")
CVT = "Wu et al. 2021 CvT-13 (paper 20M; 19,997,480 at 1000 classes); 10-class head, stride 1 stage-1 embedding"
SWIN = ("Liu et al. 2021 layout (paper 28M/50M); 10-class head, patch 2 and window 4 for 32x32 "
        "(official counts minus the smaller patch embedding and bias tables)")

PARAMS = {
    "vit": (12_681_738, VIT),
    "vit_h1_l1": (2_167_818, VIT_004),
    "vit_h1_l8": (16_887_306, VIT_004),
    "vit_h4_l2": (4_270_602, VIT_004),
    "vit_small_p4": (21_342_346, "ViT-S sizes (dim 384, depth 12, heads 6, MLP 4; DeiT-S 22M) on 4x4 patches"),
    "mobilevit_xxs": (954_234, MOBILEVIT),
    "mobilevit_xs": (1_936_698, MOBILEVIT),
    "mobilevit_s": (4_944_042, MOBILEVIT),
    "coatnet_0": (23_604_406, COATNET),
    "coatnet_1": (40_738_930, COATNET),
    "coatnet_2": (72_432_330, COATNET + "; D4=1024 as in the paper"),
    "cvt": (19_616_330, CVT),
    "swin_t": (27_505_108, SWIN),
    "swin_s": (48_805_732, SWIN),
}
