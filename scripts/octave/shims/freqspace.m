function [f1, f2] = freqspace(n, flag)
  % Stand-in for MATLAB's freqspace (absent from Octave 7), written from MATLAB's documentation:
  % frequencies normalised so that 1 is Nyquist; for n points, ((0:n-1) - floor(n/2)) * 2/n.
  % [f1, f2] = freqspace([m n], 'meshgrid'): f1 along columns (n), f2 along rows (m), as meshgrid.
  if numel(n) == 1
    n = [n n];
  end
  f1 = ((0:n(2)-1) - floor(n(2)/2)) * (2 / n(2));
  f2 = ((0:n(1)-1) - floor(n(1)/2)) * (2 / n(1));
  if nargin > 1 && strcmp(flag, 'meshgrid')
    [f1, f2] = meshgrid(f1, f2);
  end
end
