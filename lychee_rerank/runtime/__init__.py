"""Where and how the model runs: finding and loading it, devices and dtypes, giving memory back."""
