--[[
 DSA-110 RFI strategy for AOFlagger (3.x Lua API).

 Data shape per baseline: 24 integrations of 12.9 s (x axis) by 768 channels
 of 244 kHz (y axis), XX and YY. With so few integrations the smooth
 background is fitted mostly along frequency: a Gaussian high-pass filter
 whose kernel spans 3 integrations but 41 channels (about 10 MHz, less than
 a subband's 48 channels so the per-subband bandpass roll-off is followed).
 Detection is SumThreshold on the amplitude residual, run three times with
 a falling threshold, followed by the scale-invariant rank operator, which
 grows flags along both axes where most neighbours are flagged, and RMS
 tests per channel and per time step to catch persistent narrow-band
 lines (1350, 1395, 1405, 1422, 1475 MHz) and broadband bursts.

 Tuning knobs are the locals at the top of execute().
]]

aoflagger.require_min_version("3.0")

function execute(input)
  local threshold = 1.8          -- SumThreshold base level (lower: more flags)
  local passes = 3               -- detection passes, threshold falls by `step`
  local step = 1.6
  local kernel_time, kernel_freq = 3, 41   -- high-pass kernel (samples)
  local sigma_time, sigma_freq = 1.5, 60.0 -- its Gaussian variances (samples^2)
  local channel_rms_limit = 3.5  -- flag channels this many sigma above the rest
  local timestep_rms_limit = 4.0 -- same for integrations
  local sir_level = 0.25         -- scale-invariant rank operator aggressiveness

  local original = input:copy()
  for _, pol in ipairs(input:get_polarizations()) do
    local amp = input:convert_to_polarization(pol):convert_to_complex("amplitude")
    local residual = amp:copy()
    for pass = 1, passes do
      local level = threshold * step ^ (passes - pass)
      residual = amp:copy()
      residual:join_mask(amp)
      aoflagger.high_pass_filter(residual, kernel_time, kernel_freq, sigma_time, sigma_freq)
      aoflagger.sumthreshold(residual, level, level, true, true)
      amp:join_mask(residual)
    end
    local by_channel = residual:copy()
    aoflagger.threshold_channel_rms(by_channel, channel_rms_limit, true)
    residual:join_mask(by_channel)
    aoflagger.threshold_timestep_rms(residual, timestep_rms_limit)
    input:join_mask(residual)
  end
  aoflagger.scale_invariant_rank_operator_masked(input, original, sir_level, sir_level)
  input:flag_nans()
end
