// The LibTorch LocalBackend (replay_torch_open) is written here.
