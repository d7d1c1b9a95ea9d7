"""libinpaint's reference service: the fill, segmentation and background workers on `import inpaint`."""
