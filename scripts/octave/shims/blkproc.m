function out = blkproc(a, blk, border, fun)
  % Stand-in for MATLAB's blkproc (removed from Octave), written from MATLAB's documentation:
  % a is zero-padded to a multiple of the block size, fun is applied to each distinct block
  % (border [0 0] only, the case the toolboxes use), and the results are tiled in block order.
  if any(border ~= 0)
    error('blkproc shim: only border [0 0] is supported');
  end
  [h, w] = size(a);
  nr = ceil(h / blk(1));
  nc = ceil(w / blk(2));
  padded = zeros(nr * blk(1), nc * blk(2));
  padded(1:h, 1:w) = a;
  out = [];
  for i = 1:nr
    row = [];
    for j = 1:nc
      r = feval(fun, padded((i-1)*blk(1)+1:i*blk(1), (j-1)*blk(2)+1:j*blk(2)));
      row = [row, r];
    end
    out = [out; row];
  end
end
