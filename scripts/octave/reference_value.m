% One reference value of one fusion metric, computed by the unmodified toolbox code.
%
%   octave --no-gui --norc -q scripts/octave/reference_value.m TOOLBOX CODE_DIR A B F METRIC
%
% TOOLBOX  mefb (xingchenzhang/MEFB, CODE_DIR = its metrics/ folder),
%          mefb-rgb (the same, with every grey image given as three equal channels: MEFB's wrappers
%          accept only all-grey, grey sources with a colour fused image, or all-colour triplets, and
%          its MEF_SSIM only colour images) or
%          liu  (zhengliu6699/imageFusionMetrics, CODE_DIR = the repository root)
% A B F    the two source images and the fused image (read with imread)
% METRIC   mefb: the file-name part after "metrics" (Qabf, FMI, MEF_SSIM, ...);
%          liu:  the function name, with the switch after a colon where it has one
%                (metricMI:1, metricPeilla:2, metricCvejic:2, metricXydeas, ssim_index, ...)
%
% Prints one JSON line: toolbox, metric, the three file names, value (%.17g), seconds, and the sum and
% sum of squares of each decoded image (so a test can tell whether its own decoder saw the same pixels).
% The images are passed the way each toolbox's own driver passes them: MEFB's compute_metrics.m hands
% metricsX the uint8 arrays from imread; Liu's fusionAssess.m converts the sources to double (we also
% convert the fused image, as the FusionINN oracle run did). Colour images given to the Liu functions are
% first reduced with rgb2gray (the Liu toolbox is grey-only). MATLAB functions missing from Octave 7
% (freqspace, blkproc) come from shims/ beside this file, written from MATLAB's documentation.
% Nothing here changes the toolbox code: it is only added to the path.

args = argv();
toolbox = args{1}; code_dir = args{2};
files = args(3:5); metric = args{6};
pkg load image;
warning('off', 'all');
here = fileparts(mfilename('fullpath'));
addpath(fullfile(here, 'shims'));
addpath(code_dir);
% metricPWW needs Simoncelli's matlabPyrTools (shipped zipped in the Liu repository); its M-file corrDn
% (reflect1 edges, buildWpyr's default) runs under Octave without the MATLAB MEX files.
pyrtools = fullfile(code_dir, 'pyr', 'matlabPyrTools');
if exist(pyrtools, 'dir')
  addpath(pyrtools);
end

imgs = cell(1, 3);
for i = 1:3
  imgs{i} = imread(files{i});
end
stats = '';
for i = 1:3
  d = double(imgs{i});
  stats = [stats, sprintf('[%d, %d, %d, %.17g, %.17g]', size(d, 1), size(d, 2), size(d, 3), ...
                          sum(d(:)), sum(d(:).^2))];
  if i < 3
    stats = [stats, ', '];
  end
end

tic;
err = '';
try
switch toolbox
  case {'mefb', 'mefb-rgb'}
    if strcmp(toolbox, 'mefb-rgb')
      for i = 1:3
        if size(imgs{i}, 3) == 1
          imgs{i} = cat(3, imgs{i}, imgs{i}, imgs{i});
        end
      end
    end
    value = feval(['metrics', metric], imgs{1}, imgs{2}, imgs{3});
  case 'liu'
    for i = 1:3
      if size(imgs{i}, 3) == 3
        imgs{i} = rgb2gray(imgs{i});
      end
      imgs{i} = double(imgs{i});
    end
    parts = strsplit(metric, ':');
    if numel(parts) == 2
      value = feval(parts{1}, imgs{1}, imgs{2}, imgs{3}, str2double(parts{2}));
    elseif strcmp(parts{1}, 'ssim_index')
      % The toolbox's SSIM of (a, f) and (b, f), each the mean of its map, averaged.
      value = (ssim_index(imgs{1}, imgs{3}) + ssim_index(imgs{2}, imgs{3})) / 2;
    else
      value = feval(parts{1}, imgs{1}, imgs{2}, imgs{3});
    end
  otherwise
    error('unknown toolbox %s', toolbox);
end
catch e
  % A reference that fails is a finding too (Liu's metricPeilla sw=3 uses an undefined variable).
  value = NaN;
  err = strrep(strrep(e.message, '\', '/'), '"', "'");
end
seconds = toc;

printf('{"toolbox": "%s", "metric": "%s", "files": ["%s", "%s", "%s"], "value": %.17g, "seconds": %.3f, "pixel_stats": [%s], "error": "%s"}\n', ...
       toolbox, metric, files{1}, files{2}, files{3}, value, seconds, stats, err);
