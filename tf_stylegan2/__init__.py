"""tf_stylegan2: StyleGAN2 networks as Keras 3 layers, equal to NVIDIA's."""
