function varargout = edge(im, varargin)
  % MATLAB's edge accepts any real 2-D double image; Octave's image package refuses values outside
  % [0, 1] ("IM must be a grayscale image"), which stops MEFB's FMI (it calls edge on 0..255 doubles).
  % The Sobel detector's automatic threshold (4 x mean squared strength) is scale-invariant, so the image
  % is scaled by 2^-8 - exact in binary floating point, no comparison changes - and handed to Octave's
  % own edge with the arguments as given.
  here = fileparts(mfilename('fullpath'));
  im = double(im);
  if max(abs(im(:))) > 1
    im = im / 256;
  end
  rmpath(here);
  unwind_protect
    [varargout{1:max(nargout, 1)}] = edge(im, varargin{:});
  unwind_protect_cleanup
    addpath(here);
  end_unwind_protect
end
