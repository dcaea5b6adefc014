# Parameter counts of the `resnets` group (resnet, preact_resnet, stochastic_depth, wrn, resnext,
# senet, ge_resnext, shake_shake, pyramidnet, rir) at num_classes=10.
# "osmr/imgclsmob" = the exact weight counts asserted in that CIFAR zoo's model tests (pytorchcv).
KUANGLIU = "exact count of kuangliu/pytorch-cifar"
LADDER = "seed doc 000 ResNet-50 ladder; T = torchvision resnet50 exact, stem/pool/stride/ResNet-D change no params but T's 7x7 stem"
PARAMS = {
    # ImageNet ResNets with the CIFAR stem (He et al. 2016 Table 1 widths)
    "resnet18": (11_173_962, KUANGLIU + " ResNet18"),
    "resnet34": (21_282_122, KUANGLIU + " ResNet34"),
    "resnet50": (23_520_842, KUANGLIU + " ResNet50"),
    "resnet101": (42_512_970, KUANGLIU + " ResNet101"),
    "resnet152": (58_156_618, KUANGLIU + " ResNet152"),
    "resnet50_t": (23_528_522, LADDER + " (torchvision.models.resnet50(num_classes=10))"),
    "resnet50_e1": (23_520_842, LADDER + " (3x3 stem: -9408 +1728)"),
    "resnet50_e2": (23_520_842, LADDER),
    "resnet50_e3": (23_520_842, LADDER),
    "resnet50_e5": (23_520_842, LADDER + " (ResNet-D avg-pool shortcut is parameter-free)"),
    # pre-activation ResNets (He et al. 2016b)
    "preact_resnet18": (11_172_170, KUANGLIU + " PreActResNet18 (11,171,146) + final BN 1,024 of the paper"),
    "preact_resnet34": (21_280_330, KUANGLIU + " PreActResNet34 (21,279,306) + final BN 1,024 of the paper"),
    "preact_resnet164": (1_703_258, "He et al. 2016b Table 4: 1.7M; exact preresnet164bn_cifar10 of osmr/imgclsmob"),
    # stochastic depth (Huang et al. 2016): the gate has no parameters
    "stochastic_depth_resnet18": (11_173_962, KUANGLIU + " ResNet18 (same network as resnet18)"),
    "stochastic_depth_resnet110": (1_727_962, "Huang et al. 2016: ResNet-110 1.7M (same network as resnet110)"),
    # wide ResNets (Zagoruyko & Komodakis 2016, Table 4/5)
    "wrn16_8": (10_961_370, "WRN paper: WRN-16-8 11.0M"),
    "wrn28_10": (36_479_194, "WRN paper: WRN-28-10 36.5M; exact wrn28_10_cifar10 of osmr/imgclsmob"),
    "wrn40_4": (8_949_210, "WRN paper: WRN-40-4 8.9M"),
    # ResNeXt-29, kuangliu layout (outputs 2*C*d*2^i, 1x1 stem); paper layout differs for C*d > 128
    "resnext29_2x64d": (9_128_778, "seed doc 004 ResNeXt-29 2x64d exact (kuangliu ResNeXt29_2x64d)"),
    "resnext29_4x64d": (27_104_586, KUANGLIU + " ResNeXt29_4x64d layout (paper layout would be 17.6M)"),
    "resnext29_8x64d": (89_598_282, KUANGLIU + " ResNeXt29_8x64d layout; the paper's 8x64d (outputs 256/512/1024) "
                                    "is 34.4M = 34,426,698 with layout='paper'"),
    "resnext29_16x64d": (320_753_994, "kuangliu layout extended to C=16 (outputs 2048/4096/8192); the paper's "
                                      "16x64d is 68.1M = 68,155,210 with layout='paper' (osmr/imgclsmob exact)"),
    "resnext29_32x4d": (4_774_218, KUANGLIU + " ResNeXt29_32x4d (paper layout: 4,775,754, osmr/imgclsmob)"),
    # SENet-18
    "senet18": (11_260_354, "seed doc 004 SENet-18 exact (kuangliu SENet18)"),
    # Gather-Excite: paper-layout ResNeXt-29 8x64d (34,426,698) + GE-theta-plus 1,903,104
    "ge_resnext29_8x64d": (36_329_802, "this project's count; same construction gives ge_resnext29_16x64d "
                                       "70.06M = CIFAR-ZOO README's 70.0M"),
    # Shake-Shake (Gastaldi 2017 Table 1: 2.9M / 11.7M / 26.2M)
    "shake_resnet26_2x32d": (2_923_162, "Gastaldi 2017: 2.9M; exact shakeshakeresnet26_2x32d_cifar10 of osmr/imgclsmob"),
    "shake_resnet26_2x64d": (11_653_978, "Gastaldi 2017: 11.7M"),
    "shake_resnet26_2x96d": (26_192_922, "Gastaldi 2017: 26.2M"),
    # PyramidNet (Han et al. 2017 Table 4 lists 28.3M / 26.0M; exact counts of the authors' width rule)
    "pyramidnet110_a270": (28_485_477, "exact pyramidnet110_a270_cifar10 of osmr/imgclsmob (paper: 28.3M)"),
    "pyramidnet272_a200": (26_210_842, "exact pyramidnet272_a200_bn_cifar10 of osmr/imgclsmob (paper: 26.0M)"),
    # ResNet in ResNet, 18-layer + wide (nutszebra/resnet_in_resnet layout, no conv biases)
    "rir": (8_225_194, "this project's count for Targ et al. 2016 18-layer + wide RiR; the ~10.3M quoted in the "
                       "brief could not be confirmed from the paper"),
}
