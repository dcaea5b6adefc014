# Group "mobile": MobileNet v1/v2/v3, ShuffleNet v1/v2, EfficientNet, MNASNet, PNASNet, NASNet-A,
# SPP-ResNeXt.  Exact counts at num_classes=10.
D004 = "document 004 exact count (kuangliu/pytorch-cifar layout)"
KUANGLIU = "kuangliu/pytorch-cifar layout (same count)"
CHENYAOFO = "chenyaofo/pytorch-cifar-models CIFAR-10 table (0.70M/1.37M/2.24M/4.33M), exact = torchvision at 10 classes"
TV = "torchvision architecture at 10 classes (CIFAR stem stride 1 changes no parameter)"
EFF = ("project-defined: paper's compound scaling (w, d) applied to the kuangliu B0 layout that matches "
       "document 004 (no 1280 head conv, SE 0.25 x block input)")
SPP_N = ("pprp/PyTorch-CIFAR-Model-Hub spp_resnet.py; document 001's 7.36/13.4/19.4 MB checkpoints are this "
         "network (params + BN buffers, fp32)")
SPP_X = ("pprp/PyTorch-CIFAR-Model-Hub SPP module enabled in every bottleneck (the source's A-D factories pass "
         "spp=False, so document 001's A-D checkpoint sizes equal pN)")

PARAMS = {
    # MobileNet v1: Howard et al. 2017 report 4.2M at 1000 classes (224 px); CIFAR head at 10 classes
    "mobilenet": (3_217_226, KUANGLIU + "; Howard et al. 2017 body"),
    "mobilenetv2": (2_236_682, CHENYAOFO),
    "mobilenetv2_x0_5": (700_490, CHENYAOFO),
    "mobilenetv2_x0_75": (1_368_234, CHENYAOFO),
    "mobilenetv2_x1_0": (2_236_682, CHENYAOFO),
    "mobilenetv2_x1_4": (4_333_706, CHENYAOFO),
    "mobilenetv3_large": (3_884_328, "document 004 exact count (leaderj1001/MobileNetV3-Pytorch layout)"),
    "mobilenetv3_small": (1_843_272, "document 004 exact count (leaderj1001 layout + paper's SE on the last conv)"),
    "shufflenet_g1": (960_130, "document 004 exact count"),
    "shufflenet_g2": (940_282, "document 004 exact count"),
    "shufflenet_g3": (913_762, "document 004 exact count"),
    "shufflenet_g4": (889_658, "document 004 exact count"),
    "shufflenet_g8": (912_562, "document 004 exact count"),
    # document 002 prints 0.344/1.264/2.489M for x0_5/x1_0/x1_5 (its params column is flagged unreliable;
    # x1_0 and x1_5 agree to the digit)
    "shufflenetv2_x0_5": (352_042, TV + "; chenyaofo/pytorch-cifar-models"),
    "shufflenetv2_x1_0": (1_263_854, TV + "; chenyaofo/pytorch-cifar-models 1.26M; document 002 1.264M"),
    "shufflenetv2_x1_5": (2_488_874, TV + "; chenyaofo/pytorch-cifar-models; document 002 2.489M"),
    "shufflenetv2_x2_0": (5_365_486, TV + "; chenyaofo/pytorch-cifar-models"),
    "efficientnet_b0": (3_599_686, D004),
    "efficientnet_b1": (6_105_610, EFF),
    "efficientnet_b2": (7_207_468, EFF),
    "efficientnet_b3": (10_109_490, EFF),
    "efficientnet_b4": (16_749_730, EFF),
    "efficientnet_b5": (27_296_890, EFF),
    "efficientnet_b6": (39_415_186, EFF),
    "efficientnet_b7": (62_157_338, EFF),
    # document 002 prints 0.927M for mnasnet0_5; the torchvision layout gives 0.950M at 10 classes and no
    # class count reproduces 0.927M (document 002's params column is flagged unreliable)
    "mnasnet0_5": (950_322, TV),
    "mnasnet1_0": (3_115_122, TV),
    "pnasnet_a": (130_646, D004),
    "pnasnet_b": (451_626, D004),
    "nasnet_a": (3_346_538, "Zoph et al. 2018 Table 1: NASNet-A 6@768 3.3M (no auxiliary head)"),
    "spp_d11_pn": (1_912_138, SPP_N),
    "spp_d11_pa": (3_981_898, SPP_X),
    "spp_d11_pb": (3_981_898, SPP_X),
    "spp_d11_pc": (3_981_898, SPP_X),
    "spp_d11_pd": (5_358_154, SPP_X),
    "spp_d20_pn": (3_489_098, SPP_N),
    "spp_d20_pa": (7_628_618, SPP_X),
    "spp_d20_pb": (7_628_618, SPP_X),
    "spp_d20_pc": (7_628_618, SPP_X),
    "spp_d20_pd": (10_381_130, SPP_X),
    "spp_d29_pn": (5_066_058, SPP_N),
    "spp_d29_pa": (11_275_338, SPP_X),
    "spp_d29_pb": (11_275_338, SPP_X),
    "spp_d29_pc": (11_275_338, SPP_X),
    "spp_d29_pd": (15_404_106, SPP_X),
}
